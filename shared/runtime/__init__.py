"""What every service runs on: settings, logging, errors and the service application."""
