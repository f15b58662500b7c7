"""capacity: calls held concurrently while the user count steps up; watch PDD and MOS degrade.

Step size, step length and the ceiling come from RTCLOAD_STEP_USERS (10), RTCLOAD_STEP_SECONDS (60)
and RTCLOAD_MAX_USERS (100). Every load loop is bounded: the shape ends after the last step.
"""

from locust import LoadTestShape

from rtcload.loadgen.user import CallerUser
from rtcload.options import env


class CapacityCaller(CallerUser):
    pass


class StepShape(LoadTestShape):
    step_users = env.count("RTCLOAD_STEP_USERS", 10, minimum=1)
    step_seconds = env.duration("RTCLOAD_STEP_SECONDS", 60.0)
    max_users = env.count("RTCLOAD_MAX_USERS", 100, minimum=1)

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        steps = int(run_time // self.step_seconds) + 1
        users = steps * self.step_users
        if users > self.max_users:
            return None
        return users, float(self.step_users)
