"""Custom TFX components: the data gate, a Docker-free InfraValidator and an atomic Pusher."""
