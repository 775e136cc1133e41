"""A test-only app (installed by the test settings only): a model added "next year" with a foreign key to
Person, which the merge must move without any change to the merge itself."""
