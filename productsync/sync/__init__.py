"""Moving data between the hub and channels: the dispatcher and its connectors."""
