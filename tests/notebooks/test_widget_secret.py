"""The capture panel never puts the OAuth client secret into widget state (#16.2).

A notebook builds the panel in Genesys Cloud mode with the secret given in code, through
``$GENESYS_CLIENT_SECRET`` and through a secret file, presses Start (the capture fails
against a closed local port); nbclient saves the widget state into the .ipynb, as Jupyter
does on save, and the file is searched for the secret.
"""

from __future__ import annotations

import secrets

import nbformat
from nbclient import NotebookClient


def test_saved_widget_state_never_holds_the_secret(tmp_path, monkeypatch):
    secret = "s3cr3t-" + secrets.token_hex(12)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret + "\n")
    monkeypatch.setenv("GENESYS_CLIENT_ID", "client-id-123")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", secret)
    cells = [
        "import os\nfrom diarkit.widgets import CaptureControl",
        # the secret given in code (read from the environment, never typed in the cell)
        "given = CaptureControl(r'%s', simulator=False, environment='mypurecloud.com',\n"
        "    client_secret=os.environ['GENESYS_CLIENT_SECRET'], conversations=['c1'],\n"
        "    capture_options={'login_base': 'http://127.0.0.1:9',\n"
        "                     'api_base': 'http://127.0.0.1:9'})\ngiven" % (tmp_path / "a"),
        "from_env = CaptureControl(r'%s', simulator=False, conversations=['c1'])\nfrom_env"
        % (tmp_path / "b"),
        f"from_file = CaptureControl(r'{tmp_path / 'c'}', simulator=False, "
        f"conversations=['c1'],\n    client_secret_file=r'{secret_file}')\nfrom_file",
        "given.start(); given.stop()\n"
        "print(given.state, given.secret_source.value, from_env.secret_source.value,\n"
        "      from_file.secret_source.value)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    saved = path.read_text(encoding="utf-8")
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert len(state) > 20  # the panels' widgets really were saved with their values
    assert "client-id-123" in saved  # the client id (not secret) is in widget state...
    assert secret not in saved  # ...the secret is nowhere in the file
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "given in code" in printed and "environment variable GENESYS_CLIENT_SECRET" in (
        printed) and f"file {secret_file}" in printed
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
