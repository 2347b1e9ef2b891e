"""The agent SDK: an agent's stage (:mod:`~shared.agents.agent`: typed contract in, typed contract
out, the runtime does the rest), the LLM client (:mod:`shared.agents.llm`), guardrails (budgets,
hops, loops, deadlines), prompting and redaction. Imports the pipeline and the runtime only.
"""
