"""Install the agent as a per-user background service (systemd, launchd, Task Scheduler).

:mod:`.plan` says what a service consists of (files to write, commands to run),
:mod:`.systemd`, :mod:`.launchd` and :mod:`.windows_task` build it for each service
manager, :mod:`.manager` carries it out and reads back the manager's view.
"""
