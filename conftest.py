import os

# The test suite is a local stack: services may use the development JWT secret (see settings).
os.environ.setdefault("COWORK_ENV", "local")

pytest_plugins = ["cowork.devtools.fixtures"]
