"""The experiments run with a cell's generated code: training on the seed posts' tasks (train),
several cells trained on equal terms (race), the progress bar they draw on a terminal, and the
`derive train` / `derive race` commands that start them (commands)."""
