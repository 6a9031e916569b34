from taoke.cli import run

run()
