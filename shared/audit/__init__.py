"""The auditor's tools: verify every store's hash chain, replay the history."""
