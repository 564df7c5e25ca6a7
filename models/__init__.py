"""Model directories, and the tools that build and convert them."""
