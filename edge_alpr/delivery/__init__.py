"""Outputs: one durable on-disk outbox (``outbox.py``; its bounds in ``outbox_bounds.py``, its file
layout in ``outbox_schema.py``) feeding MQTT and webhook sinks.

Producers (the HTTP API, the camera loop) call ``Outbox.put`` and return at once; one
``DeliveryWorker`` thread per sink drains its queue in order, so a slow or dead receiver never
slows recognition and nothing is lost across restarts.
"""
