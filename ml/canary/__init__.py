"""The offline canary rehearsal (`mlops canary --stack <env>`).

What SageMaker does on `pulumi up` with a new model version, rehearsed on this machine:
the production and the candidate model each served by the real inference server in its
own process, traffic shifted along the stack's `trafficRouting` schedule compressed in
time, the endpoint's alarm thresholds (`serving.alarms`) evaluated per compressed
CloudWatch period, and a promote or roll back decision with a report.

- `schedule`: the stack's steps and baking periods, compressed (pure).
- `alarms`: CloudWatch-style datapoints and M-of-M alarm evaluation (pure).
- `rehearsal`: the traffic router and the conductor loop (asyncio).
- `drill`: the server with an injected fault, to rehearse the rollback path.
- `report`: Markdown, JSON and HTML (with the plot) via `ml.reports`.
- `runner`: settings, the two server processes, the whole run.
"""
