"""The Pulumi program: components that are a pure function of the stack config."""
