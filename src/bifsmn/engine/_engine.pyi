# Type stub of the compiled extension (cpp/, bound with nanobind): code reaches it through
# bifsmn.engine.native(), which is typed Any, so every name here is Any too.
from typing import Any

def __getattr__(name: str) -> Any: ...
