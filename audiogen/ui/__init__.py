"""The web page (`audiogen serve`): a Gradio app over an AudioGen model. Needs the `ui` extra."""
