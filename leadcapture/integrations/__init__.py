"""What leadcapture exchanges with other systems: signed webhooks, bounces and complaints, imports."""
