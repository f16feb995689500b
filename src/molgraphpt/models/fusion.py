"""Light cross-modal fusion: one pre-norm cross-attention block from one modality to the other.

Used by the cross-modal objectives (``cross_modal_mlm``, ``mol_text_matching``): text tokens
attend to the atoms of their molecule, or atoms attend to the tokens of their text. One block on
top of the two unimodal encoders (as the fusion layers of ALBEF / BLIP, but a single layer) keeps
both encoders usable on their own, which retrieval, embedding and fine-tuning need.
"""

from __future__ import annotations

from torch import Tensor, nn

from molgraphpt.errors import ConfigError


class CrossAttentionBlock(nn.Module):
    """``h = q + Attn(LN(q), K(kv), V(kv)); h = h + FFN(LN(h))``.

    Args:
        dim: Width of the queries (and of the output).
        kv_dim: Width of the keys/values before their projection to ``dim``.
        heads: Attention heads (must divide ``dim``).
        dropout: Dropout in attention and the feed-forward network.
        ff_mult: Hidden width of the feed-forward network, as a multiple of ``dim``.

    Raises:
        ConfigError: ``heads`` does not divide ``dim``.
    """

    def __init__(
        self, dim: int, kv_dim: int, heads: int = 4, dropout: float = 0.1, ff_mult: int = 2
    ) -> None:
        super().__init__()
        if heads < 1 or dim % heads:
            raise ConfigError(
                "fusion_heads", heads, expected=f"a positive divisor of the width {dim}"
            )
        self.kv = nn.Linear(kv_dim, dim)
        self.norm_q = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, ff_mult * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ff_mult * dim, dim),
        )

    def forward(self, query: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        """Fuse ``context`` into ``query``.

        Args:
            query: ``[batch_size, num_queries, dim]``.
            context: ``[batch_size, num_context, kv_dim]``.
            context_mask: True for real context positions ``[batch_size, num_context]`` (every
                row needs at least one).

        Returns:
            ``[batch_size, num_queries, dim]``.
        """
        kv = self.kv(context)
        attended, _ = self.attn(
            self.norm_q(query), kv, kv, key_padding_mask=~context_mask.bool(), need_weights=False
        )
        h = query + attended
        return h + self.ff(self.norm_ff(h))
