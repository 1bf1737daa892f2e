"""shaoguan-dispatch: zones, road network and travel times for motor-claims dispatch in Shaoguan."""

__version__ = "0.1.0"
