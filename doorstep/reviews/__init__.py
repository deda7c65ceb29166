"""Reviews: what shoppers said about their orders (today only raw imported reviews)."""
