"""The Pulumi program: ``build(env)`` composes the shared components for one validated environment."""
