"""The small deterministic sample under ``data/sample`` (frames JSONL, RTTM, post-call JSON).

Regenerate it with ``diarkit simulate --write-sample data/sample --seed 1``.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from .generator import build_scenario, schedule
from .ground_truth import post_call_transcript, write_rttm

#: Shape of the committed sample: a few short calls so it stays well under 1 MB. The first
#: call has IVR, queue, agent and a hold; the second a consult transfer to a second agent;
#: the third is abandoned in the queue. Transcripts come grouped, as the service sends them.
SAMPLE_OPTIONS: dict[str, object] = {
    "conversations": 3, "queues": 2, "agents": 2, "call_duration_s": (40.0, 70.0),
    "stagger_s": 8.0, "kinds": ("basic+hold", "consult_transfer", "abandoned"),
    "grouping": "grouped",
}


def write_sample(out: str | Path, seed: int = 1) -> dict[str, Path]:
    """Write the sample to directory ``out``; return ``{what: path}``.

    Files: ``frames.jsonl`` (every notification frame of the calls, in send order, one
    per line), ``truth.rttm`` (who spoke when, seconds from each session start),
    ``post_call_transcript.json`` (the first call's post-call transcript, epoch ms) and
    ``manifest.json`` (seed, ids and the command that regenerates the sample).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scenario = build_scenario(seed=seed, **SAMPLE_OPTIONS)  # type: ignore[arg-type]
    frames = schedule(scenario)
    paths = {
        "frames": out / "frames.jsonl",
        "rttm": out / "truth.rttm",
        "post_call": out / "post_call_transcript.json",
        "manifest": out / "manifest.json",
    }
    paths["frames"].write_text("".join(f.text + "\n" for f in frames), encoding="utf-8")
    write_rttm(scenario.plans, paths["rttm"])
    first = scenario.plans[0]
    paths["post_call"].write_bytes(
        orjson.dumps(post_call_transcript(first), option=orjson.OPT_INDENT_2) + b"\n"
    )
    manifest = {
        "command": f"diarkit simulate --write-sample {out.as_posix()} --seed {seed}",
        "seed": seed,
        "frames": len(frames),
        "conversation_ids": list(scenario.conversation_ids),
        "communication_ids": [p.communication_id for p in scenario.plans],
        "queue_ids": list(scenario.queue_ids),
        "user_ids": list(scenario.user_ids),
        "post_call_conversation_id": first.conversation_id,
        "kinds": [p.kind + "".join(f"+{f}" for f in p.features) for p in scenario.plans],
        "grouping": scenario.grouping,
        "times": "RTTM in seconds from each session start; frames and post-call in epoch ms",
    }
    paths["manifest"].write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return paths
