"""Atomic, idempotent Pusher executor for the stock Pusher component."""
