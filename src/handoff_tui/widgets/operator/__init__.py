"""The operator screens' widgets: the policy editor (fields, lists of intents and rules,
their editors), history, what-if, risk–coverage, analytics and knowledge gaps, one
module each."""
