"""The JSON API surface generated controllers build on: request/response shapes and the service lookup."""
