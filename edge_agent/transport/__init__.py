"""Transport: what the unit says on MQTT and hears from it (deploy/asyncapi.yaml).

One connection per camera (mqtt_link), hits published from the store's
outbox until the broker acknowledges them, the retained status and will,
and signed hot lists taken from their retained topic. It may use privacy
(the outbox is the store); it never imports service or commands.
"""
