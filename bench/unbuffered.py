"""The Python runtime's ``sys.stdout``: awslambdaric's bootstrap wraps it so that every write is
flushed at once, so a log line is one write(2) and ``print`` two. Its own module, with no imports
beyond ``typing``: the cold-start script loads it before anything it measures."""

from typing import Any


class Unbuffered:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        written: int = self.stream.write(text)
        self.stream.flush()
        return written

    def writelines(self, lines: Any) -> None:
        self.stream.writelines(lines)
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
