"""Build the configured scorer: the rules, or the LLM chain ending in the rules.

Importing this module loads the openai SDK: import it where a scorer is built, not at the
top of a command that may not need one.
"""

from __future__ import annotations

import logging

from openbell.adapters.llm import CallPolicy, LlmChain, LlmProvider, LlmScorer
from openbell.config import Settings
from openbell.config.settings import ENV_PREFIX, ScoringSettings, SecretsSettings
from openbell.ports import LlmJournal, Scorer
from openbell.strategy.scoring import RuleScorer

log = logging.getLogger(__name__)


def llm_chain(scoring: ScoringSettings, secrets: SecretsSettings) -> LlmChain:
    """The LLM scorer's configuration, with each provider's key read from ``secrets``."""
    providers = []
    for p in scoring.providers:
        keyless = p.api_key == "none"
        providers.append(
            LlmProvider(
                name=p.name,
                base_url=p.base_url,
                model=p.model,
                key=None if keyless else secrets.value_of(p.api_key),
                key_variable=None if keyless else f"{ENV_PREFIX}SECRETS__{p.api_key.upper()}",
                input_usd_per_mtok=p.input_usd_per_mtok,
                output_usd_per_mtok=p.output_usd_per_mtok,
            )
        )
    return LlmChain(
        providers=tuple(providers),
        prompt_version=scoring.prompt_version,
        fallback_to_rules=scoring.fallback_to_rules,
        policy=CallPolicy(
            timeout_s=scoring.timeout_s,
            max_retries=scoring.max_retries,
            temperature=scoring.temperature,
        ),
        concurrency=scoring.concurrency,
        daily_token_budget=scoring.daily_token_budget,
        daily_cost_budget_usd=scoring.daily_cost_budget_usd,
        deadline_s=scoring.deadline_s,
    )


def build_scorer(settings: Settings, journal: LlmJournal) -> Scorer:
    """The rule scorer for ``scoring.scorer = "rules"``, else the LLM chain journaling every
    call in ``journal`` (the ledger). Providers without their key are named at start."""
    if settings.scoring.scorer == "rules":
        return RuleScorer()
    chain = llm_chain(settings.scoring, settings.secrets)
    for provider in chain.providers:
        if provider.missing_key:
            log.warning(
                "LLM provider %s is skipped: set %s to use it", provider.name, provider.key_variable
            )
    return LlmScorer(chain, journal, RuleScorer())
