"""Notifications (spec key `notifications:`): SMS through an HTTP gateway, with an outbox."""
