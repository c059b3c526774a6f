"""The benchmarks' workload: users fetching a static page as fast as they can (generator-bound)."""

from locust import FastHttpUser, constant, task


class StaticPageUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def page(self):
        with self.client.get("/", name="static.page", catch_response=True) as resp:
            if resp.text != "ok":
                resp.failure("unexpected body")
