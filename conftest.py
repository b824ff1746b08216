pytest_plugins = ["cowork.shared.testing.fixtures"]
