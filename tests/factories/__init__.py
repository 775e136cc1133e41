"""factory-boy factories, one module per app (``tests.factories.people`` ...)."""
