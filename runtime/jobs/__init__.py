"""Scheduled jobs (spec key `jobs:`): the runner, the embedded scheduler and the Celery app.

One code path runs a job (`runner.run_job`) whoever triggers it: the embedded scheduler in
`specadmin serve`, a Celery worker (`specadmin worker`), the CLI (`specadmin jobs`) or the
重新运行 action on a failed run. Each run is a `job_run` row (specs/system/jobs.yaml).
"""
