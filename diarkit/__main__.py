"""``python -m diarkit``: the same as the ``diarkit`` command."""

from diarkit.cli import main

if __name__ == "__main__":
    main()
