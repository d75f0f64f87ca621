"""What leadcapture exchanges with other systems: signed webhooks out, bounces and complaints in, imports with provenance."""
