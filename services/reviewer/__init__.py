"""The reviewer service: one panelist of the review panel (the join ``panel``)."""
