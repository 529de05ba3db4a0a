"""The base every configuration section derives from: unknown keys are errors."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config table. Typos in key names must fail loudly, never be ignored."""

    model_config = ConfigDict(extra="forbid")
