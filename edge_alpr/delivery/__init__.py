"""Delivery of events to MQTT and webhooks through one durable outbox."""
