"""rasa-sdk custom actions, executed in-process by bot.rasa_runtime.InProcessActionEndpoint."""
