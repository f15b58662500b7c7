"""inbound_agents: half the users are agents who register and answer; callers dial agents by username."""

from rtcload.loadgen.user import AgentCallerUser, AgentUser


class Agent(AgentUser):
    weight = 1


class Caller(AgentCallerUser):
    weight = 1
