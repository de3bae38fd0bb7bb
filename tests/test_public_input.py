"""Bad input from anyone on the internet is answered with a 4xx, quickly, and changes nothing."""

import pytest


@pytest.mark.parametrize("amount", ["1e150000", "1e999990", "1e10000000", "9" * 40, "10,50"])
def test_fee_quote_refuses_huge_or_foreign_amounts_with_a_400(client, amount):
    response = client.get(f"/donate/fee?amount={amount}&currency=usd")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid"


def test_fee_quote_reads_a_decimal_comma_in_euros(client):
    assert client.get("/donate/fee?amount=10,50&currency=eur").json["total_display"] == "€11.12"
