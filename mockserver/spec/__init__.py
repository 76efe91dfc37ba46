"""What a mock is told: the declarative spec (one model for config files, `/__admin` and the fixtures), its
errors, the config file, scripts and faults in force, timing profiles and draws."""

from mockserver.spec.models import (
    ConfigSpec,
    DelaySpec,
    ExperimentSpec,
    FaultSpec,
    MockSpec,
    ProjectSpec,
    RequestMatch,
    SamplingPolicy,
    ScriptedAnswer,
    ScriptedToolCall,
    ScriptSpec,
    TimingSpec,
    default_spec,
    provisioned_configs,
)

__all__ = ["ConfigSpec", "DelaySpec", "ExperimentSpec", "FaultSpec", "MockSpec", "ProjectSpec", "RequestMatch",
           "SamplingPolicy", "ScriptSpec", "ScriptedAnswer", "ScriptedToolCall", "TimingSpec", "default_spec",
           "provisioned_configs"]
