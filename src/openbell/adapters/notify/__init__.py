"""Notification channels: apprise covers Telegram, Discord, Slack, email and webhooks.

The sender is ``openbell.adapters.notify.apprise_sender.AppriseSender``, imported by the
notifier process only (apprise costs ~0.1 s to import); this package imports no vendor.
"""

from openbell.adapters.notify.urls import url_secrets

__all__ = ["url_secrets"]
