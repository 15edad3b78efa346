"""`check` on the keys of SPEC §15's runtime half: schedules, cascades, `[notify]`; one
line each, with the file and line."""

from __future__ import annotations

from harness import Project, project  # noqa: F401  (project is a fixture)

BAD = """
[notify]
on = ["gave_up", "exploded"]
webhook = "not a url"

[tasks.cron]
command = "backup"
schedule = "*/5 * * *"

[tasks.tick]
command = "tick"
every = "soon"

[tasks.both]
command = "x"
schedule = "0 * * * *"
every = "1m"
restart_policy = "no"

[tasks.looping]
command = "x"
every = "5m"
restart_policy = "always"

[tasks.waits]
command = "x"
depends_on = ["looping"]
"""


def test_check_names_each_bad_key_with_its_line(project: Project) -> None:  # noqa: F811
    project.write(BAD)
    result = project.run("check")
    assert result.returncode == 2
    lines = result.stdout + result.stderr
    config = str(project.config)
    for where, code in [
        (f"{config}:4: key 'notify.on': unknown event 'exploded'", "E125"),
        (f"{config}:5: key 'notify.webhook': must be an http:// or https:// URL", "E125"),
        (f"{config}:9: task 'cron': key 'schedule': must have five fields", "E120"),
        (f"{config}:13: task 'tick': key 'every': must be a period", "E120"),
        (f"{config}:18: task 'both': key 'every': a task has either", "E121"),
        (f"{config}:24: task 'looping': key 'restart_policy':", "E121"),
        (f"{config}:28: task 'waits': key 'depends_on': 'looping' is scheduled", "E121"),
    ]:
        line = next((text for text in lines.splitlines() if where in text), None)
        assert line is not None, (where, lines)
        assert code in line or code in lines, (code, line)


def test_good_keys_pass(project: Project) -> None:  # noqa: F811
    project.write(
        """
        [notify]
        on = ["crash_loop"]
        desktop = true
        command = "true"
        [tasks.db]
        command = "db"
        restart_dependents = true
        [tasks.report]
        command = "report"
        schedule = "30 2 * * 1-5"
        restart_policy = "no"
        depends_on = [{task = "db", condition = "healthy"}]
        """
    )
    assert project.run("check").returncode == 0
