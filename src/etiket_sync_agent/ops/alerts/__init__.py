"""Alerts: tell people when syncing fails or falls behind, and when it recovers.

:mod:`.targets` keeps the notification URLs (apprise) and settings in the home,
:mod:`.rules` turns a snapshot into problems and recoveries, :mod:`.notifier` groups
them into few messages, rate-limits them, sends them (and the optional daily digest)
in a background thread that never affects syncing.
"""
