"""Development tools: demo history and the local Stripe emulator. Never imported by `banner`."""
