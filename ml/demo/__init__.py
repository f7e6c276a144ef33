"""`make demo` / `mlops demo`: the whole release on this machine, with no AWS account.

- `run`: the folder, the emulator's lifetime, the steps, the summary (`run_demo`).
- `steps`: each step composes the pipeline's own functions (`DemoRun`).
- `plan`: the release PR's resource changes and comment (pure).
- `runner`: one progress line per step; output and logs captured to `demo.log`.
- `report`: `index.html`, `summary.md`, `summary.json`.
"""
