"""HTTP plumbing shared by routers: dependencies, problem details, body limits. No business logic."""
