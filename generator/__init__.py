"""The generator: load specs with line numbers, check shape and meaning, build the immutable model, emit and write code."""
