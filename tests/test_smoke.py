def test_login_page_renders(client):
    assert client.get("/login").status_code == 200
