"""The experiments run with a cell's generated code: training on the seed posts' tasks (train),
several cells trained on equal terms (race), and the progress bar they draw on a terminal."""
